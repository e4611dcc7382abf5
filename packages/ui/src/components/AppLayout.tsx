import { AppShell, Badge, Button, Group, NavLink, Text, ThemeIcon } from "@mantine/core";
import { type Permission, can } from "@pier/protocol";
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
import { useTranslation } from "react-i18next";
import { Link, Outlet, useLocation, useNavigate } from "react-router";
import { logOut } from "../api/auth.ts";
import { useCurrentUser } from "../hooks/use-current-user.ts";
import { ColorSchemeToggle } from "./ColorSchemeToggle.tsx";
import { LanguagePicker } from "./LanguagePicker.tsx";

type NavLabel = "home" | "waitingRoom" | "addEnvironment" | "edgeGroups" | "edgeStacks" | "edgeJobs" | "agentUpdates" | "tags" | "edgeCompute" | "certificates" | "users" | "teams" | "activity";

interface NavItem {
  to: string;
  /** Its key in the `common` catalog's `nav`. */
  label: NavLabel;
  icon: ComponentType<{ size?: number; stroke?: number }>;
  /** Also active below this path (an environment's page belongs to Home). */
  matches: (path: string) => boolean;
  /** Shown only to roles that hold it (the screen's API would refuse the others). */
  needs?: Permission;
}

const navItems: NavItem[] = [
  { to: "/", label: "home", icon: IconHome, matches: (path) => path === "/" || (path.startsWith("/environments/") && path !== "/environments/new") },
  { to: "/waiting-room", label: "waitingRoom", icon: IconDoorEnter, matches: (path) => path === "/waiting-room" },
  { to: "/environments/new", label: "addEnvironment", icon: IconPlus, matches: (path) => path === "/environments/new", needs: "operate" },
  { to: "/edge-groups", label: "edgeGroups", icon: IconUsersGroup, matches: (path) => path.startsWith("/edge-groups") },
  { to: "/edge-stacks", label: "edgeStacks", icon: IconStack2, matches: (path) => path.startsWith("/edge-stacks") },
  { to: "/edge-jobs", label: "edgeJobs", icon: IconCalendarTime, matches: (path) => path.startsWith("/edge-jobs") },
  { to: "/agent-updates", label: "agentUpdates", icon: IconCloudUpload, matches: (path) => path.startsWith("/agent-updates") },
  { to: "/tags", label: "tags", icon: IconTag, matches: (path) => path === "/tags" },
  { to: "/settings/edge", label: "edgeCompute", icon: IconSettings, matches: (path) => path === "/settings/edge", needs: "administer" },
  { to: "/certificates", label: "certificates", icon: IconCertificate, matches: (path) => path === "/certificates", needs: "administer" },
  { to: "/users", label: "users", icon: IconUsers, matches: (path) => path === "/users", needs: "administer" },
  { to: "/teams", label: "teams", icon: IconUsersGroup, matches: (path) => path === "/teams", needs: "administer" },
  { to: "/activity", label: "activity", icon: IconHistory, matches: (path) => path === "/activity", needs: "administer" },
];

/** The frame of every logged-in screen: header with Log out, sidebar of links, the screen. */
export function AppLayout() {
  const { pathname } = useLocation();
  const navigate = useNavigate();
  const user = useCurrentUser();
  const { t } = useTranslation();

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
              {t("appName")}
            </Text>
          </Group>
          <Group gap="xs">
            <LanguagePicker />
            <ColorSchemeToggle />
            <Button variant="subtle" color="gray" component={Link} to="/account" leftSection={<IconUserCircle size={16} />} rightSection={<Badge variant="light">{t(`roles.${user.RoleName}`)}</Badge>}>
              {user.Username}
            </Button>
            <Button variant="subtle" color="gray" leftSection={<IconLogout size={16} />} onClick={() => void handleLogOut()}>
              {t("actions.logOut")}
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" component="nav" aria-label={t("nav.label")}>
        {navItems
          .filter((item) => item.needs === undefined || can(user.RoleName, item.needs))
          .map((item) => (
            <NavLink key={item.to} component={Link} to={item.to} label={t(`nav.${item.label}`)} leftSection={<item.icon size={18} stroke={1.6} />} active={item.matches(pathname)} />
          ))}
      </AppShell.Navbar>
      <AppShell.Main>
        <Outlet />
      </AppShell.Main>
    </AppShell>
  );
}
