import { readServerConfig } from '../../../lib/server/config';
import { handleGatewayStatus } from '../../../lib/server/status';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export function GET(): Promise<Response> {
  return handleGatewayStatus(readServerConfig());
}
