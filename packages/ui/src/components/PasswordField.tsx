import { PasswordInput, type PasswordInputProps } from "@mantine/core";
import { useTranslation } from "react-i18next";

/**
 * A password input whose show/hide toggle is not named "… password …": Mantine's default
 * ("Toggle password visibility") would make `getByLabel("Password")` match two elements.
 */
export function PasswordField(props: PasswordInputProps) {
  const { t } = useTranslation("auth");
  return <PasswordInput visibilityToggleButtonProps={{ "aria-label": t("fields.showCharacters") }} {...props} />;
}
