import { handleChat } from '../../../lib/server/chat';
import { readServerConfig } from '../../../lib/server/config';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export function POST(request: Request): Promise<Response> {
  return handleChat(request, readServerConfig());
}
