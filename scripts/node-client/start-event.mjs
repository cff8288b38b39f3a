// Starts one HARi event from another Temporal SDK (the JavaScript client),
// as the polyglot contract in README.md says: workflow type WebhookEvent,
// task queue hari-webhooks, workflow ID webhook-event:<workspace>:<event id>,
// input {"event": {...}} with no targets (the workflow routes it to the
// workspace's webhooks), every payload sealed with the HARi codec.
//
//   HARI_CODEC_KEYS=id:base64key TEMPORAL_ADDRESS=127.0.0.1:7233 \
//     node scripts/node-client/start-event.mjs event.json [--wait]
//
// Prints {"workflow_id", "run_id"} (and, with --wait, "result": the
// workflow's result, e.g. {"no_match": true} when no webhook matched).
import { randomBytes, createCipheriv, createDecipheriv, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { Client, Connection } from "@temporalio/client";
import proto from "@temporalio/proto"; // CommonJS: its default export

const Payload = proto.temporal.api.common.v1.Payload;
const utf8 = (s) => new TextEncoder().encode(s);
const str = (b) => new TextDecoder().decode(b);

// The HARi payload codec (codec/codec.go): AES-256-GCM; metadata
// encoding=binary/encrypted and encryption-key-id=<id>; data = 12-byte
// nonce || ciphertext || 16-byte tag of the serialized Payload proto. The
// first key of HARI_CODEC_KEYS seals, every key opens.
export class HariCodec {
  constructor(spec) {
    this.keys = new Map();
    for (const [i, part] of spec.split(",").entries()) {
      const [id, b64] = part.trim().split(":");
      const key = Buffer.from(b64 ?? "", "base64");
      if (!id || key.length !== 32) throw new Error(`HARI_CODEC_KEYS: entry ${i + 1} is not id:base64 of 32 bytes`);
      this.keys.set(id, key);
      if (i === 0) this.active = id;
    }
  }

  async encode(payloads) {
    const key = this.keys.get(this.active);
    return payloads.map((p) => {
      const nonce = randomBytes(12);
      const c = createCipheriv("aes-256-gcm", key, nonce);
      const sealed = Buffer.concat([nonce, c.update(Payload.encode(p).finish()), c.final(), c.getAuthTag()]);
      return { metadata: { encoding: utf8("binary/encrypted"), "encryption-key-id": utf8(this.active) }, data: sealed };
    });
  }

  async decode(payloads) {
    return payloads.map((p) => {
      if (str(p.metadata?.encoding ?? new Uint8Array()) !== "binary/encrypted") return p;
      const id = str(p.metadata["encryption-key-id"]);
      const key = this.keys.get(id);
      if (!key) throw new Error(`payload sealed with unknown key id ${id}`);
      const data = Buffer.from(p.data);
      const d = createDecipheriv("aes-256-gcm", key, data.subarray(0, 12));
      d.setAuthTag(data.subarray(data.length - 16));
      return Payload.decode(Buffer.concat([d.update(data.subarray(12, data.length - 16)), d.final()]));
    });
  }
}

// The task-queue fairness key of a workspace (workflows.FairnessKey).
function fairnessKey(ws) {
  const b = Buffer.from(ws);
  if (b.length <= 64) return ws;
  let h = 2166136261;
  for (const c of Buffer.from(`${ws}/0`)) h = Math.imul(h ^ c, 16777619) >>> 0;
  return `${b.subarray(0, 48).toString()}~${h.toString(16).padStart(8, "0")}`;
}

async function main() {
  const [file, ...flags] = process.argv.slice(2);
  if (!file) throw new Error("usage: start-event.mjs <event.json | -> [--wait]");
  if (!process.env.HARI_CODEC_KEYS) throw new Error("set HARI_CODEC_KEYS (id:base64-32-byte-key[,older keys])");
  const event = JSON.parse(readFileSync(file === "-" ? 0 : file, "utf8"));
  if ("targets" in event || "routed" in event) throw new Error("this door takes only the event: the workflow routes it to the workspace's webhooks");
  event.id ??= randomUUID();
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? "127.0.0.1:7233" });
  try {
    const client = new Client({
      connection,
      namespace: process.env.TEMPORAL_NAMESPACE ?? "default",
      dataConverter: { payloadCodecs: [new HariCodec(process.env.HARI_CODEC_KEYS)] },
    });
    const handle = await client.workflow.start("WebhookEvent", {
      taskQueue: process.env.HARI_TASK_QUEUE ?? "hari-webhooks",
      workflowId: `webhook-event:${event.workspace}:${event.id}`,
      workflowIdReusePolicy: "REJECT_DUPLICATE",
      workflowIdConflictPolicy: "FAIL",
      priority: { fairnessKey: fairnessKey(event.workspace) },
      args: [{ event }],
    });
    const out = { workflow_id: handle.workflowId, run_id: handle.firstExecutionRunId };
    if (flags.includes("--wait")) out.result = await handle.result();
    console.log(JSON.stringify(out));
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  console.error(`start-event: ${err.message}`);
  process.exit(1);
});
