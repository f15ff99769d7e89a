export * from './prisma';
export * from './migrations';
export * from './organizations';
export * from './destinations';
export * from './events';
export * from './deliveries';
export * from './database.module';
export * from './unavailable';
