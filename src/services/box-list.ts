import {diskUsage, listStoredBoxes} from '../boxes/store.js';

export interface ListedBox {
  name: string;
  version: string;
  provider: string;
  dir: string;
  /** Bytes on disk. */
  size: number;
}

/** `box box list`: every installed box with its size on disk. */
export async function listBoxes(filter: {name?: string} = {}): Promise<ListedBox[]> {
  const boxes = await listStoredBoxes(filter);
  return Promise.all(boxes.map(async (b) => ({...b, size: await diskUsage(b.dir)})));
}
