import "@mantine/core/styles.css";
import "@mantine/notifications/styles.css";
import "@mantine/charts/styles.css";
import { MantineProvider } from "@mantine/core";
import { Notifications } from "@mantine/notifications";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { RouterProvider } from "react-router/dom";
import { setUnauthorizedHandler } from "./api/client.ts";
import "./i18n/index.ts";
import { router } from "./router.tsx";
import { loginPathFor } from "./return-path.ts";
import { colorSchemeManager } from "./theme/color-scheme.ts";
import { cssVariablesResolver, theme } from "./theme/theme.ts";

// Back to the page shown once logged in again.
setUnauthorizedHandler(() => void router.navigate(loginPathFor(`${window.location.pathname}${window.location.search}`), { replace: true }));

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root element");
createRoot(root).render(
  <StrictMode>
    <MantineProvider theme={theme} cssVariablesResolver={cssVariablesResolver} defaultColorScheme="auto" colorSchemeManager={colorSchemeManager}>
      <Notifications position="top-right" autoClose={3000} />
      <RouterProvider router={router} />
    </MantineProvider>
  </StrictMode>,
);
