import { Alert, Anchor, Button } from "@mantine/core";
import type { ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { useCan } from "../../hooks/use-current-user.ts";
import { Link } from "react-router";
import { PageHeader } from "../PageHeader.tsx";

/**
 * The heading of one fleet item's screen (an edge group, stack, job or agent update): its name,
 * the link back to its list (`list.title` already in the UI's language), and its actions.
 *
 * @example
 * <ItemHeader title={job.Name} list={{ path: "/edge-jobs", title: "Edge jobs" }} actions={<DeleteButton onClick={askDelete} />} />
 */
export function ItemHeader({ title, list, actions }: { title: ReactNode; list: { path: string; title: string }; actions?: ReactNode }) {
  return (
    <PageHeader
      title={title}
      description={
        <Anchor component={Link} to={list.path} size="sm">
          ← {list.title}
        </Anchor>
      }
      actions={actions}
    />
  );
}

/** A fleet item's Delete button; the click asks first (`deletionRequest`). None for a role that may not change the fleet. */
export function DeleteButton({ onClick }: { onClick: () => void }) {
  const { t } = useTranslation();
  if (!useCan("operate")) return null;
  return (
    <Button color="red" variant="light" onClick={onClick}>
      {t("actions.delete")}
    </Button>
  );
}

/** Above a fleet item's form, for a role that may read it but not change it (its Save is disabled). */
export function ReadOnlyNotice() {
  const { t } = useTranslation("fleet");
  if (useCan("operate")) return null;
  return (
    <Alert color="gray" mb="md" title={t("item.readOnlyTitle")}>
      {t("item.readOnly")}
    </Alert>
  );
}

/** Why the item's form was not saved, above the form; nothing when it was. */
export function NotSavedAlert({ error }: { error: { message: string } | undefined }) {
  const { t } = useTranslation("fleet");
  if (!error) return null;
  return (
    <Alert color="red" mb="md" role="alert" title={t("item.notSaved")}>
      {error.message}
    </Alert>
  );
}
