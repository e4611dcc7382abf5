import { createBrowserRouter, redirect } from "react-router";
import { administratorExists } from "./api/auth.ts";
import { ApiError, session } from "./api/client.ts";
import { currentUser } from "./api/users.ts";
import { AppLayout } from "./components/AppLayout.tsx";
import { PageLoader } from "./components/PageLoader.tsx";
import { RouteError } from "./components/RouteError.tsx";
import { AccountScreen } from "./screens/AccountScreen.tsx";
import { ActivityScreen } from "./screens/ActivityScreen.tsx";
import { AddEnvironmentScreen } from "./screens/AddEnvironmentScreen.tsx";
import { EdgeComputeScreen } from "./screens/EdgeComputeScreen.tsx";
import { EnvironmentScreen } from "./screens/EnvironmentScreen.tsx";
import { AgentUpdateScreen } from "./screens/fleet/AgentUpdateScreen.tsx";
import { AgentUpdatesScreen } from "./screens/fleet/AgentUpdatesScreen.tsx";
import { EdgeGroupScreen } from "./screens/fleet/EdgeGroupScreen.tsx";
import { EdgeGroupsScreen } from "./screens/fleet/EdgeGroupsScreen.tsx";
import { EdgeJobScreen } from "./screens/fleet/EdgeJobScreen.tsx";
import { EdgeJobsScreen } from "./screens/fleet/EdgeJobsScreen.tsx";
import { EdgeStackScreen } from "./screens/fleet/EdgeStackScreen.tsx";
import { EdgeStacksScreen } from "./screens/fleet/EdgeStacksScreen.tsx";
import { TagsScreen } from "./screens/fleet/TagsScreen.tsx";
import { FirstRunScreen } from "./screens/FirstRunScreen.tsx";
import { HomeScreen } from "./screens/HomeScreen.tsx";
import { LoginScreen } from "./screens/LoginScreen.tsx";
import { NotFoundScreen } from "./screens/NotFoundScreen.tsx";
import { UsersScreen } from "./screens/UsersScreen.tsx";
import { TeamsScreen } from "./screens/TeamsScreen.tsx";
import { WaitingRoomScreen } from "./screens/WaitingRoomScreen.tsx";
import { loginPathFor } from "./return-path.ts";

// Every screen but /init and /login needs a session; without one, the first run creates the
// administrator, later runs log in. With one, the signed-in user (their role) is the app
// route's data (useCurrentUser).
async function requireSession({ request }: { request: Request }) {
  if (session.token()) {
    try {
      return await currentUser();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) throw error;
      session.end();
    }
  }
  if (!(await administratorExists())) return redirect("/init");
  const asked = new URL(request.url);
  return redirect(loginPathFor(`${asked.pathname}${asked.search}`));
}

async function firstRunOnly() {
  return (await administratorExists()) ? redirect(session.token() ? "/" : "/login") : null;
}

function loggedOutOnly() {
  return session.token() ? redirect("/") : null;
}

/** The UI's routes (docs/ui.md's table), on the history API. */
export const router = createBrowserRouter([
  { path: "/init", element: <FirstRunScreen />, loader: firstRunOnly, hydrateFallbackElement: <PageLoader />, errorElement: <RouteError /> },
  { path: "/login", element: <LoginScreen />, loader: loggedOutOnly, hydrateFallbackElement: <PageLoader />, errorElement: <RouteError /> },
  {
    id: "app",
    path: "/",
    element: <AppLayout />,
    loader: requireSession,
    hydrateFallbackElement: <PageLoader />,
    errorElement: <RouteError />,
    children: [
      { index: true, element: <HomeScreen /> },
      { path: "waiting-room", element: <WaitingRoomScreen /> },
      { path: "environments/new", element: <AddEnvironmentScreen /> },
      { path: "environments/:id", element: <EnvironmentScreen /> },
      { path: "edge-groups", element: <EdgeGroupsScreen /> },
      { path: "edge-groups/new", element: <EdgeGroupScreen /> },
      { path: "edge-groups/:id", element: <EdgeGroupScreen /> },
      { path: "edge-stacks", element: <EdgeStacksScreen /> },
      { path: "edge-stacks/new", element: <EdgeStackScreen /> },
      { path: "edge-stacks/:id", element: <EdgeStackScreen /> },
      { path: "edge-jobs", element: <EdgeJobsScreen /> },
      { path: "edge-jobs/new", element: <EdgeJobScreen /> },
      { path: "edge-jobs/:id", element: <EdgeJobScreen /> },
      { path: "agent-updates", element: <AgentUpdatesScreen /> },
      { path: "agent-updates/new", element: <AgentUpdateScreen /> },
      { path: "agent-updates/:id", element: <AgentUpdateScreen /> },
      { path: "tags", element: <TagsScreen /> },
      { path: "users", element: <UsersScreen /> },
      { path: "teams", element: <TeamsScreen /> },
      { path: "account", element: <AccountScreen /> },
      { path: "settings/edge", element: <EdgeComputeScreen /> },
      { path: "activity", element: <ActivityScreen /> },
      // The chart library is most of the bundle: loaded with the screen that draws it.
      { path: "certificates", lazy: async () => ({ Component: (await import("./screens/CertificatesScreen.tsx")).CertificatesScreen }) },
      { path: "*", element: <NotFoundScreen /> },
    ],
  },
]);
