// A minimal reader of the protobuf wire format: enough to walk a message's fields without generated code or a
// dependency (SentencePiece .model files are one small, stable message). Groups (wire types 3/4) are refused.
import { AlloyError } from '../common/errors.ts';

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

export interface ProtoField {
  field: number;
  wire: number;
  /** varint: the value's low 32 bits as a signed int32 (int32/enum/bool fields; negative int32s use all 10 bytes) */
  int: number;
  /** length-delimited: the payload */
  bytes: Uint8Array;
  /** fixed32: the payload as a little-endian float */
  float: number;
}

/**
 * The fields of one message in order. `where` names the file and message for errors, e.g. "tok512.model: ModelProto".
 */
export function* protoFields(buf: Uint8Array, where: string): Generator<ProtoField> {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  const fail = (what: string): never => {
    throw new AlloyError(`${where}: malformed protobuf at byte ${pos} (${what})`);
  };
  const varint = (): number => {
    // Low 32 bits only; the upper bytes (present for negative int32s) are consumed and dropped.
    let low = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) fail('varint runs past the end');
      const b = buf[pos++]!;
      if (i < 5) low |= (b & 0x7f) << (7 * i);
      if ((b & 0x80) === 0) return low | 0;
    }
    return fail('varint longer than 10 bytes');
  };
  const empty = new Uint8Array(0);
  while (pos < buf.length) {
    const tag = varint() >>> 0;
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 0) fail('field number 0');
    const f: ProtoField = { field, wire, int: 0, bytes: empty, float: 0 };
    if (wire === WIRE_VARINT) f.int = varint();
    else if (wire === WIRE_FIXED64) {
      if (pos + 8 > buf.length) fail('fixed64 runs past the end');
      pos += 8;
    } else if (wire === WIRE_BYTES) {
      const len = varint();
      if (len < 0 || pos + len > buf.length) fail(`length ${len} runs past the end (${buf.length} bytes)`);
      f.bytes = buf.subarray(pos, pos + len);
      pos += len;
    } else if (wire === WIRE_FIXED32) {
      if (pos + 4 > buf.length) fail('fixed32 runs past the end');
      f.float = view.getFloat32(pos, true);
      pos += 4;
    } else fail(`wire type ${wire} of field ${field}`);
    yield f;
  }
}
