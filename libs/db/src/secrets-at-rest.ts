import { Client } from 'pg';
import { clearTextFields, findKind, sealStoredSecrets, StoredSecrets } from '@dispatch/destinations';
import type { SecretBox } from '@dispatch/domain';

/** What a pass over the stored secrets did. */
export type SecretsPass = {
  /** Destinations looked at. */
  destinations: number;
  /** Values found in clear text and encrypted. */
  encrypted: number;
  /** Values encrypted with another key and encrypted again with the current one. */
  reencrypted: number;
};

const BATCH = 200;

type SecretRow = { id: string; kind: string; config: unknown; secret: string | null; previous_secret: string | null };

/**
 * Encrypts every destination secret still in clear text (rows written before secrets were
 * encrypted) and, with `rotate`, encrypts again with the current key every one encrypted with
 * another. Batches of rows are locked while they change, so an API writing a destination at
 * the same time waits for them. With no `box`, it only checks: clear text found is an error
 * saying to set DISPATCH_ENCRYPTION_KEY.
 */
export async function sealSecretsAtRest(client: Client, box: SecretBox | undefined, options: { rotate: boolean }): Promise<SecretsPass> {
  const pass: SecretsPass = { destinations: 0, encrypted: 0, reencrypted: 0 };
  let after = '';
  for (;;) {
    await client.query('BEGIN');
    try {
      const rows = await client.query<SecretRow>('SELECT id, kind, config, secret, previous_secret FROM destinations WHERE id > $1 ORDER BY id LIMIT $2 FOR UPDATE', [
        after,
        BATCH,
      ]);
      for (const row of rows.rows) {
        const stored: StoredSecrets = { id: row.id, kind: row.kind, config: row.config, secret: row.secret, previousSecret: row.previous_secret };
        const result = box ? sealStoredSecrets(stored, findKind(row.kind), box, options) : unsealedOnly(stored);
        pass.encrypted += result.encrypted;
        pass.reencrypted += result.reencrypted;
        if (result.sealed) {
          await client.query('UPDATE destinations SET config = $2, secret = $3, previous_secret = $4 WHERE id = $1', [
            row.id,
            JSON.stringify(result.sealed.config),
            result.sealed.secret,
            result.sealed.previousSecret,
          ]);
        }
      }
      await client.query('COMMIT');
      pass.destinations += rows.rows.length;
      if (rows.rows.length < BATCH) return pass;
      after = rows.rows[rows.rows.length - 1].id;
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
  }
}

/** Without a key: fails naming the first destination that holds a secret in clear text. */
function unsealedOnly(stored: StoredSecrets): { sealed: null; encrypted: 0; reencrypted: 0 } {
  const clear = clearTextFields(stored, findKind(stored.kind));
  if (clear.length > 0) {
    throw new Error(`destination ${stored.id} holds secrets in clear text (${clear.join(', ')}): set DISPATCH_ENCRYPTION_KEY so that they are encrypted`);
  }
  return { sealed: null, encrypted: 0, reencrypted: 0 };
}
