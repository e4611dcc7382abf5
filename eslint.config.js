// @ts-check
import js from "@eslint/js";
import i18next from "eslint-plugin-i18next";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["**/node_modules/**", "**/dist/**", "**/.tmp/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/switch-exhaustiveness-check": ["error", { considerDefaultExhaustiveForUnions: true }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["@pier/*/src/*", "../../*/src/*"], message: "Import packages through their public entry." }] },
      ],
    },
  },
  {
    // The protocol package is shared with the browser UI: no Node APIs.
    files: ["packages/protocol/src/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [{ group: ["node:*"], message: "packages/protocol must not use Node APIs." }] }] },
  },
  {
    // Every word the UI shows goes through its i18n layer (packages/ui/src/i18n/README.md): text
    // in JSX and the attributes people read. Strings built in code are caught by the browser
    // test that reads each screen in Simplified Chinese for English words (web-ui-languages).
    files: ["packages/ui/src/**/*.tsx"],
    plugins: { i18next },
    rules: {
      "i18next/no-literal-string": [
        "error",
        {
          mode: "jsx-only",
          "jsx-attributes": { include: ["label", "placeholder", "title", "description", "aria-label", "alt", "error", "message", "confirmLabel", "emptyText", "tooltip", "nothingFoundMessage"] },
        },
      ],
    },
  },
  { files: ["**/*.js"], ...tseslint.configs.disableTypeChecked },
);
