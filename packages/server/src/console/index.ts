export { BrowserConsole, consoleProtocol, type BrowserConsoleOptions, type ConsoleTicket } from "./browser-console.ts";
export { consoleLimits, parseConsoleSpec, type ConsoleSpec } from "./console-spec.ts";
