import { Alert, Anchor, Button } from "@mantine/core";
import type { ReactNode } from "react";
import { Link } from "react-router";
import { PageHeader } from "../PageHeader.tsx";

/**
 * The heading of one fleet item's screen (an edge group, stack, job or agent update): its name,
 * the link back to its list, and its actions.
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

/** A fleet item's Delete button; the click asks first (`deletionRequest`). */
export function DeleteButton({ onClick }: { onClick: () => void }) {
  return (
    <Button color="red" variant="light" onClick={onClick}>
      Delete
    </Button>
  );
}

/** Why the item's form was not saved, above the form; nothing when it was. */
export function NotSavedAlert({ error }: { error: { message: string } | undefined }) {
  if (!error) return null;
  return (
    <Alert color="red" mb="md" role="alert" title="Not saved">
      {error.message}
    </Alert>
  );
}
