// The smallest Probot app that answers webhooks: one `issue_comment`
// handler that does nothing, served by Node's http server on the port in
// PORT. bench/peers.py times it from process start to the first answered
// signed delivery, and reads its peak RSS under load.
import { Probot, createNodeMiddleware } from "probot";
import { readFileSync } from "node:fs";
import http from "node:http";

const probot = new Probot({
  appId: 777,
  privateKey: readFileSync(process.env.PRIVATE_KEY_PATH, "utf8"),
  secret: process.env.WEBHOOK_SECRET,
  logLevel: "fatal",
});
const app = (app) => {
  app.on("issue_comment.created", async () => {});
};
const middleware = await createNodeMiddleware(app, { probot, webhooksPath: "/webhook" });
http.createServer(middleware).listen(Number(process.env.PORT), "127.0.0.1");
