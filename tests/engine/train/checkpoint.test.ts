// A checkpoint records the adapter it belongs to (PEFT's r, lora_alpha, use_rslora, target_modules, lora_dropout),
// and a resume with another adapter is refused, naming each difference, before anything is uploaded. No GPU: with
// no tensors, encodeCheckpoint and restoreCheckpoint only write and read the metadata (the trainer's GPU test
// covers the tensors).
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  checkpointLora,
  encodeCheckpoint,
  loraMismatch,
  objectiveMismatch,
  restoreCheckpoint,
  type CheckpointLora,
  type CheckpointMeta,
} from '../../../src/engine/train/checkpoint.ts';
import { trainConfig } from '../../../src/engine/train/trainer.ts';
import { blobSource } from '../../../src/io/bytes.ts';
import { dirCheckpointStore } from '../../../src/io/node/checkpoint-dir.ts';

const tmp = mkdtempSync(join(tmpdir(), 'alloy-checkpoint-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// metadata only: no tensor is read back, so no device is touched
const NO_DEVICE = undefined as unknown as GPUDevice;
const RUN = { r: 8, alpha: 16, useRslora: false, targets: ['q_proj', 'v_proj'], dropout: 0.05 } as const;
const meta = (lora: CheckpointLora): CheckpointMeta => ({ format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, step: 3, epoch: 0, cursor: 6, config: {}, lora, history: [] });

describe('checkpoint adapter record', () => {
  it('records r, alpha, rsLoRA, targets and dropout', () => {
    expect(checkpointLora(RUN)).toEqual({ r: 8, alpha: 16, useRslora: false, targets: ['q_proj', 'v_proj'], dropout: 0.05 });
    expect(checkpointLora({ ...RUN, dropout: undefined })).toMatchObject({ dropout: 0 });
  });

  it('names every field that differs, in PEFT terms; targets compare as a set', () => {
    const saved = checkpointLora(RUN);
    expect(loraMismatch(saved, RUN)).toBeNull();
    expect(loraMismatch(saved, { ...RUN, targets: ['v_proj', 'q_proj'] })).toBeNull();
    expect(loraMismatch(saved, { ...RUN, dropout: 0 })).toBe('lora_dropout 0.05 (this run: 0)');
    expect(loraMismatch(saved, { ...RUN, targets: ['q_proj'] })).toBe('target_modules q_proj,v_proj (this run: q_proj)');
    expect(loraMismatch(saved, { r: 4, alpha: 8, useRslora: true, targets: RUN.targets, dropout: 0.05 })).toBe(
      'r 8 (this run: 4), lora_alpha 16 (this run: 8), use_rslora false (this run: true)',
    );
    // written before dropout was recorded: nothing to hold the run to
    const { dropout: _, ...old } = saved;
    expect(loraMismatch(old, { ...RUN, dropout: 0.3 })).toBeNull();
  });

  it('round-trips through the Node directory store; restore refuses another adapter, accepts the same one', async () => {
    const store = dirCheckpointStore(join(tmp, 'ck'));
    await store.save(3, await encodeCheckpoint(NO_DEVICE, [], meta(checkpointLora(RUN))));
    const back = await restoreCheckpoint(NO_DEVICE, await store.open(3), [], RUN);
    expect(back.lora).toEqual(checkpointLora(RUN));
    expect(back).toMatchObject({ step: 3, cursor: 6 });
    await expect(restoreCheckpoint(NO_DEVICE, await store.open(3), [], { ...RUN, dropout: 0.1 })).rejects.toThrow(
      /checkpoint-3\.safetensors: the checkpoint is of a different LoRA: lora_dropout 0\.05 \(this run: 0\.1\); resume with the checkpoint's adapter settings/,
    );
    // without a run's adapter to compare (export, fold), any checkpoint reads
    expect((await restoreCheckpoint(NO_DEVICE, await store.open(3), [])).lora?.dropout).toBe(0.05);
  });

  it('a blob (what IndexedDB stores) carries the same record', async () => {
    const blob = await encodeCheckpoint(NO_DEVICE, [], meta(checkpointLora({ ...RUN, useRslora: true })));
    await expect(restoreCheckpoint(NO_DEVICE, blobSource(blob, 'checkpoint-3'), [], RUN)).rejects.toThrow(/checkpoint-3: .*use_rslora true \(this run: false\)/);
  });
});

// The objective (method, beta, DPO's label smoothing) is part of the Trainer's config, recorded in every checkpoint; a
// resume under another objective would continue the loss curve under a different loss, so it is refused too.
describe('checkpoint objective record', () => {
  const dpo = (labelSmoothing?: number) => trainConfig({ method: 'dpo', steps: 4, objective: { beta: 0.1, ...(labelSmoothing !== undefined ? { labelSmoothing } : {}) } });
  // what Trainer.saveCheckpoint records (the config, less the reference log-probs)
  const recorded = (c: ReturnType<typeof dpo>): CheckpointMeta => ({ ...meta(checkpointLora(RUN)), config: { ...c, objective: { ...c.objective, refLogps: undefined } } });

  it('names the objective settings that differ, in TRL terms; an unrecorded ε is 0, an imported adapter passes', () => {
    const saved = recorded(dpo(0.1)).config;
    expect(objectiveMismatch(saved, dpo(0.1))).toBeNull();
    expect(objectiveMismatch(saved, dpo(0))).toBe('label_smoothing 0.1 (this run: 0)');
    expect(objectiveMismatch(saved, dpo())).toBe('label_smoothing 0.1 (this run: 0)');
    expect(objectiveMismatch(saved, { ...dpo(0.1), objective: { beta: 0.5, labelSmoothing: 0.1 } })).toBe('beta 0.1 (this run: 0.5)');
    expect(objectiveMismatch(saved, trainConfig({ method: 'orpo', steps: 4 }))).toBe('method dpo (this run: orpo), label_smoothing 0.1 (this run: 0)');
    // written before label smoothing was recorded: the trainer could only train with 0 then
    expect(objectiveMismatch(recorded(dpo()).config, dpo(0))).toBeNull();
    expect(objectiveMismatch(recorded(dpo()).config, dpo(0.2))).toBe('label_smoothing 0 (this run: 0.2)');
    expect(objectiveMismatch({}, dpo(0.2))).toBeNull();
  });

  it('restore refuses a run with another label smoothing before anything is uploaded, accepts the same one', async () => {
    const store = dirCheckpointStore(join(tmp, 'ck-objective'));
    await store.save(3, await encodeCheckpoint(NO_DEVICE, [], recorded(dpo(0.1))));
    const back = await restoreCheckpoint(NO_DEVICE, await store.open(3), [], RUN, dpo(0.1));
    expect((back.config.objective as { labelSmoothing?: number }).labelSmoothing).toBe(0.1);
    await expect(restoreCheckpoint(NO_DEVICE, await store.open(3), [], RUN, dpo(0.2))).rejects.toThrow(
      /checkpoint-3\.safetensors: the checkpoint was trained with another objective: label_smoothing 0\.1 \(this run: 0\.2\); resume with the checkpoint's settings, or start a new run/,
    );
  });
});
