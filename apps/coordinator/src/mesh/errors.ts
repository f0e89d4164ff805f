/** Why a pipeline step failed, and which node failed it (for replay on a replacement). */
export class MeshError extends Error {
  override readonly name = 'MeshError';
  constructor(
    readonly code: string,
    message: string,
    readonly nodeId?: string,
  ) {
    super(message);
  }
}
