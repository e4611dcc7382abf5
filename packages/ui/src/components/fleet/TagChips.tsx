import { Badge, Group } from "@mantine/core";
import { useTranslation } from "react-i18next";

/**
 * An environment's tags as small badges (its `TagIds` named from the tag list); nothing when it has none.
 *
 * @example
 * <TagChips ids={environment.TagIds} names={tagNames} />
 */
export function TagChips({ ids, names }: { ids: readonly number[] | undefined; names: ReadonlyMap<number, string> }) {
  const { t } = useTranslation("fleet");
  if (!ids || ids.length === 0) return null;
  return (
    <Group gap={4} mt={4} aria-label={t("environmentTags.label")}>
      {ids.map((id) => (
        <Badge key={id} size="xs" variant="light" color="grape" radius="sm" tt="none">
          {names.get(id) ?? t("values.tag", { id })}
        </Badge>
      ))}
    </Group>
  );
}
