import { Controller, Get, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { describeKind, destinationKinds } from '@dispatch/destinations';
import { Access, ApiKeyGuard } from '../auth/access';

/** Read once: the kinds are fixed for the life of the process. */
const KINDS = { data: destinationKinds.map(describeKind) };

@ApiTags('destinations')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1/destination-kinds')
export class DestinationKindsController {
  @Get()
  @Access('read')
  @ApiOperation({ summary: 'The kinds this deployment delivers to, with the JSON Schema of their config and which config fields are secrets' })
  list() {
    return KINDS;
  }
}
