// Between the catalogue's TypeBox schemas and JSON on the wire. JSON has no bytes, so a
// `Uint8Array` travels as a base64 string: the schemas say so (`{type: "string", contentEncoding:
// "base64"}`), inputs are decoded where the operation's schema expects bytes, and outputs encode
// every byte array they hold. TypeBox's recursive schemas (`$id` + `$ref`) become named components.
import { Kind, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Non-JSON TypeBox types, and what stands for them in a JSON Schema. */
const NON_JSON_TYPES: Record<string, JsonObject> = {
  Uint8Array: { type: 'string', contentEncoding: 'base64', contentMediaType: 'application/octet-stream' },
  Date: { type: 'string', format: 'date-time' },
  BigInt: { type: 'string', pattern: '^-?[0-9]+$' },
  Undefined: { not: {} },
  Void: { type: 'null' },
};
const DROPPED_KEYS = new Set(['minByteLength', 'maxByteLength', 'exclusiveMinimumTimestamp', 'exclusiveMaximumTimestamp', 'minimumTimestamp', 'maximumTimestamp', 'multipleOfTimestamp']);
const MAX_DEPTH = 64;

/**
 * A TypeBox schema as JSON Schema (2020-12, as OpenAPI 3.1 and MCP take it). Schemas with an `$id`
 * go into `components` under that name and are referenced as `${refBase}<id>`.
 */
export function toJsonSchema(schema: TSchema, components: Map<string, JsonObject>, refBase = '#/components/schemas/'): JsonObject {
  const plain = JSON.parse(JSON.stringify(schema)) as Json;
  const ref = (id: string): string => `${refBase}${id.replace(/[^A-Za-z0-9._-]/g, '_')}`;
  const convert = (node: Json, depth: number): Json => {
    if (depth > MAX_DEPTH) return {};
    if (Array.isArray(node)) return node.map((n) => convert(n, depth + 1));
    if (node === null || typeof node !== 'object') return node;
    if (typeof node.type === 'string' && NON_JSON_TYPES[node.type]) {
      const out: JsonObject = { ...NON_JSON_TYPES[node.type]! };
      if (typeof node.description === 'string') out.description = node.description;
      if (node.type === 'Uint8Array' && typeof node.maxByteLength === 'number') out.maxLength = Math.ceil(node.maxByteLength / 3) * 4;
      return out;
    }
    const out: JsonObject = {};
    for (const [key, value] of Object.entries(node)) {
      if (DROPPED_KEYS.has(key)) continue;
      if (key === '$ref' && typeof value === 'string' && !value.startsWith('#')) out.$ref = ref(value);
      else if (key === '$id') continue;
      else out[key] = convert(value, depth + 1);
    }
    if (typeof node.$id === 'string') {
      const name = node.$id.replace(/[^A-Za-z0-9._-]/g, '_');
      components.set(name, out);
      return { $ref: ref(node.$id) };
    }
    return out;
  };
  const top = convert(plain, 0);
  return (typeof top === 'object' && top !== null && !Array.isArray(top) ? top : {}) as JsonObject;
}

function isBase64(text: string): boolean {
  return text.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(text);
}

/**
 * JSON input → the operation's input: base64 strings become Uint8Arrays where the schema expects
 * bytes. Everything else is left for the catalogue's check (which then names the field).
 */
export function inputFromJson(schema: TSchema, value: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) return value;
  const kind = (schema as { [Kind]?: string })[Kind];
  if (kind === 'Uint8Array') return typeof value === 'string' && isBase64(value) ? new Uint8Array(Buffer.from(value, 'base64')) : value;
  if (kind === 'Object' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const properties = (schema as { properties?: Record<string, TSchema> }).properties ?? {};
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      const property = Object.prototype.hasOwnProperty.call(properties, key) ? properties[key] : undefined;
      out[key] = property ? inputFromJson(property, v, depth + 1) : v;
    }
    return out;
  }
  if (kind === 'Array' && Array.isArray(value)) {
    const items = (schema as { items?: TSchema }).items;
    return items ? value.map((v) => inputFromJson(items, v, depth + 1)) : value;
  }
  if (kind === 'Union') {
    const variants = (schema as { anyOf?: TSchema[] }).anyOf ?? [];
    for (const variant of variants) {
      const converted = inputFromJson(variant, value, depth + 1);
      if (converted !== value && safeCheck(variant, converted)) return converted;
    }
    return value;
  }
  return value;
}

function safeCheck(schema: TSchema, value: unknown): boolean {
  try {
    return Value.Check(schema, value);
  } catch {
    return false;
  }
}

/** JSON.stringify with bytes as base64 and bigints as decimal strings (outputs, events). */
export function stringifyJson(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    const original = key === '' ? value : this[key];
    if (original instanceof Uint8Array) return Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('base64');
    if (typeof v === 'bigint') return v.toString();
    return v;
  }) ?? 'null';
}
