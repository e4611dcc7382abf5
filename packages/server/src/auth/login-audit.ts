import { createHmac } from "node:crypto";

/** Characters of an unknown user name kept in the audit trail. */
export const unknownUsernameVisibleChars = 2;

/** How a failed login's typed user name appears in the audit trail's `detail`. */
export type AuditedUsername = { username: string } | { username: string; unknownUser: true; usernameTag: string };

/**
 * Turns the user names typed into failed logins into what the audit trail may keep (issue 16):
 * an existing user's name as it is; any other text — often the password typed into the wrong
 * field — as its first two characters and a 16-hex-digit HMAC-SHA-256 tag keyed by a server
 * secret, so repeated attempts with the same name can be told apart and grouped, but the text
 * cannot be read back or confirmed offline by someone who can read only the audit trail.
 *
 * @example
 * const names = new FailedLoginNames(sessionSecret);
 * await store.audit.append({ kind: "login_failed", detail: names.describe(body.Username, user !== null) });
 */
export class FailedLoginNames {
  readonly #key: Buffer;

  /** `secret`: any server secret; a key for this purpose alone is derived from it. */
  constructor(secret: Buffer) {
    this.#key = createHmac("sha256", secret).update("pier: audit tag of unknown user names").digest();
  }

  /** What to store for `typed`; `knownUser`: whether a user of that name exists. */
  describe(typed: string, knownUser: boolean): AuditedUsername {
    if (knownUser) return { username: typed };
    const visible = [...typed].slice(0, unknownUsernameVisibleChars).join("");
    const usernameTag = createHmac("sha256", this.#key).update(typed, "utf8").digest("hex").slice(0, 16);
    return { username: `${visible}…`, unknownUser: true, usernameTag };
  }
}
