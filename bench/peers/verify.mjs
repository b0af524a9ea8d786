// @octokit/webhooks' verifyAndReceive (the stack under Probot) on the same
// deliveries as gatebot's `verify + parse` criterion group: check the
// signature against one secret, parse the JSON, call the (empty) handler.
// Prints one JSON object: { name: median nanoseconds per delivery }.
//
//   node bench/peers/verify.mjs
import { Webhooks } from "@octokit/webhooks";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";

const root = new URL("../../", import.meta.url);
const fixture = (name) => readFileSync(new URL(`tests/fixtures/${name}.json`, root), "utf8");
const secret = "peer-secret";
const webhooks = new Webhooks({ secret });
let received = 0;
webhooks.on(["pull_request", "issue_comment"], () => {
  received++;
});

// The same 5 MiB comment as benches/core.rs: a log pasted into a comment.
const line = '2026-12-02T10:00:00Z INFO request handled in 3 ms "GET /api" 200\n';
const big = JSON.parse(fixture("issue_comment.created"));
big.comment.body = line.repeat(Math.floor((5 * 1024 * 1024) / line.length));

const cases = [
  ["pull_request.opened", "pull_request", fixture("pull_request.opened")],
  ["issue_comment.created", "issue_comment", fixture("issue_comment.created")],
  ["issue_comment.created with a 5 MiB body", "issue_comment", JSON.stringify(big)],
];

const out = {};
for (const [name, event, payload] of cases) {
  const signature = "sha256=" + createHmac("sha256", secret).update(payload).digest("hex");
  const once = () => webhooks.verifyAndReceive({ id: "bench", name: event, payload, signature });
  // Warm up for half a second (the JIT), then 30 samples of ~50 ms each.
  let per = 1;
  for (const until = performance.now() + 500; performance.now() < until; ) {
    const t = performance.now();
    for (let i = 0; i < per; i++) await once();
    if (performance.now() - t < 50) per *= 2;
  }
  const samples = [];
  for (let s = 0; s < 30; s++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < per; i++) await once();
    samples.push(Number(process.hrtime.bigint() - t) / per);
  }
  samples.sort((a, b) => a - b);
  out[name] = samples[samples.length >> 1];
}
if (received === 0) throw new Error("the handler never ran");
console.log(JSON.stringify(out));
