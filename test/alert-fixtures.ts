import { AlertRepository, createDatabase } from '@dispatch/db';

/** Opens a backlog alert on a destination straight in the database (as an evaluation would); returns its id. */
export async function openTestAlert(databaseUrl: string, organizationId: string, destinationId: string): Promise<string> {
  const database = createDatabase(databaseUrl, { max: 1 });
  try {
    const alert = await new AlertRepository(database).open({
      organizationId,
      destinationId,
      condition: 'backlog',
      openedAt: new Date(),
      value: 2000,
      threshold: 1000,
      message: 'test: 2000 deliveries waiting (threshold 1000)',
    });
    if (!alert) throw new Error(`An alert of the same condition is open on ${destinationId} already`);
    return alert.id;
  } finally {
    await database.close();
  }
}
