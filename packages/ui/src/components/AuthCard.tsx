import { Center, Group, Paper, Stack, Text, ThemeIcon, Title } from "@mantine/core";
import { IconTopologyStar3 } from "@tabler/icons-react";
import type { ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { LanguagePicker } from "./LanguagePicker.tsx";

/** The centred card of the screens shown before a session exists (first run, login), with the language switch. */
export function AuthCard({ title, description, children }: { title: string; description: string; children: ReactNode }) {
  const { t } = useTranslation();
  return (
    <Center component="main" mih="100vh" bg="light-dark(var(--mantine-color-gray-0), var(--mantine-color-dark-8))" p="md">
      <Paper withBorder shadow="sm" radius="md" p="xl" w={420}>
        <Stack gap="lg">
          <Group justify="space-between">
            <Group gap="xs">
              <ThemeIcon radius="md" size="lg" aria-hidden>
                <IconTopologyStar3 size={20} />
              </ThemeIcon>
              <Text fw={700} size="xl">
                {t("appName")}
              </Text>
            </Group>
            {/* Before a session too: a shared browser's language may not be the reader's. */}
            <LanguagePicker />
          </Group>
          <div>
            <Title order={1} size="h2">
              {title}
            </Title>
            <Text c="dimmed" size="sm" mt={4}>
              {description}
            </Text>
          </div>
          {children}
        </Stack>
      </Paper>
    </Center>
  );
}
