import "@mantine/core/styles.css";
import "@mantine/notifications/styles.css";
import "@mantine/charts/styles.css";
import { MantineProvider } from "@mantine/core";
import { Notifications } from "@mantine/notifications";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { RouterProvider } from "react-router/dom";
import { setUnauthorizedHandler } from "./api/client.ts";
import { router } from "./router.tsx";

setUnauthorizedHandler(() => void router.navigate("/login", { replace: true }));

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root element");
createRoot(root).render(
  <StrictMode>
    <MantineProvider>
      <Notifications position="top-right" autoClose={3000} />
      <RouterProvider router={router} />
    </MantineProvider>
  </StrictMode>,
);
