import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { consoleLimits } from "../../console/index.ts";
import { ServerError } from "../../errors.ts";
import type { ApiDependencies, ApiEnv } from "../context.ts";
import { failure, idParam, jsonAnswer, jsonBody, secured } from "../route-helpers.ts";
import { requireInScope } from "../request-scope.ts";

const ticketSchema = z
  .object({
    ticket: z.string().openapi({ description: "Single-use, valid for a few seconds" }),
    expiresAt: z.string().openapi({ format: "date-time" }),
    protocols: z.array(z.string()).openapi({ description: "The WebSocket subprotocols to offer when opening GET /api/endpoints/{id}/console" }),
  })
  .openapi("ConsoleTicket");

/** `POST /api/endpoints/{id}/console/tickets`: a ticket for the console WebSocket (docs/ui.md "Console"). */
export function registerConsoleRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDependencies): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/endpoints/{id}/console/tickets",
      summary: "Create a shell (exec with a TTY) in a running container and a ticket to open it as a WebSocket at GET /api/endpoints/{id}/console",
      security: secured,
      request: {
        params: z.object({ id: idParam("id") }),
        body: jsonBody(
          z.object({
            container: z.string().openapi({ description: `Container id or name, at most ${consoleLimits.container} characters` }),
            shell: z.string().optional().openapi({ description: `Absolute path of the shell (default /bin/sh), at most ${consoleLimits.shell} characters, no spaces or shell characters` }),
            user: z.string().optional().openapi({ description: `user, uid, user:group; empty: the container's user. At most ${consoleLimits.user} characters` }),
          }),
        ),
      },
      responses: {
        200: jsonAnswer(ticketSchema, "The ticket"),
        400: failure("Invalid container, shell or user"),
        404: failure("No such environment or container"),
        409: failure("The container is not running"),
        429: failure(`Too many consoles (${consoleLimits.sessionsPerUser}) or unused tickets (${consoleLimits.ticketsPerUser}) for this user`),
        503: failure("The device is offline or cannot reach Docker"),
      },
    }),
    async (c) => {
      if (!deps.console) throw new ServerError("not_implemented", "This server has no browser console.");
      // The ticket is the only way to the console's WebSocket: checking the scope here covers both.
      await requireInScope(c, deps, c.req.valid("param").id);
      const ticket = await deps.console.issue(c.get("user"), c.req.valid("param").id, c.req.valid("json"));
      return c.json({ ticket: ticket.ticket, expiresAt: ticket.expiresAt.toISOString(), protocols: [...ticket.protocols] }, 200);
    },
  );
}
