import { AppShell, Badge, Button, Group, NavLink, Text, ThemeIcon } from "@mantine/core";
import { type Permission, can, roleLabels } from "@pier/protocol";
import {
  IconCalendarTime,
  IconCertificate,
  IconCloudUpload,
  IconDoorEnter,
  IconHistory,
  IconHome,
  IconLogout,
  IconPlus,
  IconSettings,
  IconStack2,
  IconTag,
  IconTopologyStar3,
  IconUserCircle,
  IconUsers,
  IconUsersGroup,
} from "@tabler/icons-react";
import type { ComponentType } from "react";
import { Link, Outlet, useLocation, useNavigate } from "react-router";
import { logOut } from "../api/auth.ts";
import { useCurrentUser } from "../hooks/use-current-user.ts";
import { ColorSchemeToggle } from "./ColorSchemeToggle.tsx";

interface NavItem {
  to: string;
  label: string;
  icon: ComponentType<{ size?: number; stroke?: number }>;
  /** Also active below this path (an environment's page belongs to Home). */
  matches: (path: string) => boolean;
  /** Shown only to roles that hold it (the screen's API would refuse the others). */
  needs?: Permission;
}

const navItems: NavItem[] = [
  { to: "/", label: "Home", icon: IconHome, matches: (path) => path === "/" || (path.startsWith("/environments/") && path !== "/environments/new") },
  { to: "/waiting-room", label: "Waiting Room", icon: IconDoorEnter, matches: (path) => path === "/waiting-room" },
  { to: "/environments/new", label: "Add environment", icon: IconPlus, matches: (path) => path === "/environments/new", needs: "operate" },
  { to: "/edge-groups", label: "Edge Groups", icon: IconUsersGroup, matches: (path) => path.startsWith("/edge-groups") },
  { to: "/edge-stacks", label: "Edge Stacks", icon: IconStack2, matches: (path) => path.startsWith("/edge-stacks") },
  { to: "/edge-jobs", label: "Edge Jobs", icon: IconCalendarTime, matches: (path) => path.startsWith("/edge-jobs") },
  { to: "/agent-updates", label: "Agent Updates", icon: IconCloudUpload, matches: (path) => path.startsWith("/agent-updates") },
  { to: "/tags", label: "Tags", icon: IconTag, matches: (path) => path === "/tags" },
  { to: "/settings/edge", label: "Edge Compute", icon: IconSettings, matches: (path) => path === "/settings/edge", needs: "administer" },
  { to: "/certificates", label: "Certificates", icon: IconCertificate, matches: (path) => path === "/certificates", needs: "administer" },
  { to: "/users", label: "Users", icon: IconUsers, matches: (path) => path === "/users", needs: "administer" },
  { to: "/activity", label: "Activity", icon: IconHistory, matches: (path) => path === "/activity", needs: "administer" },
];

/** The frame of every logged-in screen: header with Log out, sidebar of links, the screen. */
export function AppLayout() {
  const { pathname } = useLocation();
  const navigate = useNavigate();
  const user = useCurrentUser();

  async function handleLogOut() {
    await logOut();
    await navigate("/login", { replace: true });
  }

  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 230, breakpoint: 0 }} padding="lg">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Group gap="xs">
            <ThemeIcon radius="md" size="md" variant="filled" aria-hidden>
              <IconTopologyStar3 size={18} />
            </ThemeIcon>
            <Text fw={700} size="lg">
              Pier
            </Text>
          </Group>
          <Group gap="xs">
            <ColorSchemeToggle />
            <Button variant="subtle" color="gray" component={Link} to="/account" leftSection={<IconUserCircle size={16} />} rightSection={<Badge variant="light">{roleLabels[user.RoleName]}</Badge>}>
              {user.Username}
            </Button>
            <Button variant="subtle" color="gray" leftSection={<IconLogout size={16} />} onClick={() => void handleLogOut()}>
              Log out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" component="nav" aria-label="Main">
        {navItems
          .filter((item) => item.needs === undefined || can(user.RoleName, item.needs))
          .map((item) => (
            <NavLink key={item.to} component={Link} to={item.to} label={item.label} leftSection={<item.icon size={18} stroke={1.6} />} active={item.matches(pathname)} />
          ))}
      </AppShell.Navbar>
      <AppShell.Main>
        <Outlet />
      </AppShell.Main>
    </AppShell>
  );
}
