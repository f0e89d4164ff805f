import { handleChat } from '../../../lib/server/chat';
import { readServerConfig } from '../../../lib/server/config';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';
// A whole step streams through this function; small models on CPU can take a while.
export const maxDuration = 120;

export function POST(request: Request): Promise<Response> {
  return handleChat(request, readServerConfig());
}
