import { readServerConfig } from '../../../lib/server/config';
import { handleUsage } from '../../../lib/server/usage';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export function GET(): Promise<Response> {
  return handleUsage(readServerConfig());
}
