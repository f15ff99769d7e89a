export * from './egress-guard';
