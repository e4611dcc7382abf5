import "i18next";
import type { english } from "./resources.ts";

// Keys are checked by tsc: `t("nav.home")` in namespace "common" exists, a typo does not compile.
declare module "i18next" {
  interface CustomTypeOptions {
    defaultNS: "common";
    resources: typeof english;
  }
}
