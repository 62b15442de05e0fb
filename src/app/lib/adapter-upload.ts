// What the Train panel's adapter import sends the worker for a picked or dropped folder, set of files or .zip:
// every file with its path (the worker finds adapter_config.json and adapter_model.safetensors among them and says
// what is missing), and a name for the stored adapter. Pure, so the naming is unit-tested.
import type { AdapterImportRequest } from '../../worker/train-api.ts';
import { DROPPED_FILES, PICKED_FILES, type PickedFolder } from './folder.ts';

export const LOOSE_ADAPTER_NAME = 'PEFT adapter';

export function adapterUpload(folder: PickedFolder): Pick<AdapterImportRequest, 'name' | 'files'> {
  const files = folder.files.map((blob, i) => ({ path: folder.paths[i] ?? blob.name, blob }));
  const zip = files.length === 1 && files[0]!.path.toLowerCase().endsWith('.zip') ? files[0]! : null;
  const name = zip
    ? zip.path.slice(zip.path.lastIndexOf('/') + 1)
    : folder.name === PICKED_FILES || folder.name === DROPPED_FILES
      ? LOOSE_ADAPTER_NAME
      : folder.name;
  return { name, files };
}
