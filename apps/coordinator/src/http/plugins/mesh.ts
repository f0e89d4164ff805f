/** Decorates the app with the MeshService and closes its links with the app. */
import fp from 'fastify-plugin';
import type { MeshService } from '../../mesh/mesh-service.js';

declare module 'fastify' {
  interface FastifyInstance {
    mesh: MeshService;
  }
}

export const meshPlugin = fp(
  async (app, opts: { mesh: MeshService }) => {
    app.decorate('mesh', opts.mesh);
    // preClose: streams in flight end with an error event now instead of holding the close open.
    app.addHook('preClose', async () => opts.mesh.shutdown());
    app.addHook('onClose', async () => opts.mesh.close());
  },
  { name: 'mesh' },
);
