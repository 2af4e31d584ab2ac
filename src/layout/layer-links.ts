/**
 * Which layer file of a directory may be the hard link to each cached blob: one per blob. `tar -c` archives a second
 * name of an inode it has already archived as a hard-link entry with no bytes: the docker-archive reader of skopeo
 * and podman (containers/image) reads such an entry as an empty layer and fails its digest, and containerd's
 * importer (`ctr images import`) reports the layer missing; only docker's own reader follows it. So when a blob is a
 * layer at two layer IDs (the same layer twice in one image, or in two images on different parents, as schema1's
 * empty layers are), one layer file is the link and the others are copies.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hardLinkedByInode, inodeKey } from '../util/files.js';

const LAYER_FOLDER = /^[a-f0-9]{64}$/;

/** Decides, per layer file of a directory, whether it is the hard link to its cached blob or a copy. */
export class LayerLinks {
  /** blob (its path: one per content, decompressed ones included) → the layer file that is, or is to be, its link. */
  private readonly holders = new Map<string, string>();

  private constructor(
    /** `dev:ino` → the layer file already in the directory that is a link to that inode. */
    private readonly existing: ReadonlyMap<string, string>,
  ) {}

  /** Reads which layer files the directory already holds as hard links (none when it is new). */
  static async of(root: string, isNew: boolean): Promise<LayerLinks> {
    return new LayerLinks(isNew ? new Map() : await linkedLayerFiles(root));
  }

  /**
   * For an image's layers, in order: whether each one's file is to be the link to its blob. The first file of a blob
   * is, unless one already in the directory is; images are taken in turn, so the choice is the same on every run.
   */
  async assign(layers: readonly { readonly file: string; readonly blob: string }[]): Promise<boolean[]> {
    const inodes =
      this.existing.size === 0 ? [] : await Promise.all(layers.map((layer) => stat(layer.blob).then(inodeKey)));
    return layers.map((layer, index) => {
      let holder = this.holders.get(layer.blob);
      if (holder === undefined) {
        holder = this.existing.get(inodes[index] ?? '') ?? layer.file;
        this.holders.set(layer.blob, holder);
      }
      return holder === layer.file;
    });
  }
}

/** Layer files (`<layerId>/layer.tar`) with more than one name, by inode; the first in name order for each. */
async function linkedLayerFiles(root: string): Promise<Map<string, string>> {
  const folders = (await readdir(root)).filter((name) => LAYER_FOLDER.test(name)).sort();
  const linked = await hardLinkedByInode(
    root,
    folders.map((folder) => join(folder, 'layer.tar')),
  );
  return new Map([...linked].map(([inode, files]) => [inode, files[0]!]));
}
