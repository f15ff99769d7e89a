import { Module, OnApplicationShutdown } from '@nestjs/common';
import { stopTracing } from './start';

/** Sends the spans still waiting when the app shuts down (nothing when tracing is off). */
@Module({})
export class TracingModule implements OnApplicationShutdown {
  onApplicationShutdown(): Promise<void> {
    return stopTracing();
  }
}
