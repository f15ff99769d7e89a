import { DynamicModule, Global, Module } from '@nestjs/common';
import { DISPATCH_CONFIG, DispatchConfig } from './config';

@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: DispatchConfig): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: DISPATCH_CONFIG, useValue: config }], exports: [DISPATCH_CONFIG] };
  }
}
