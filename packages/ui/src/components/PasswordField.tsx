import { PasswordInput, type PasswordInputProps } from "@mantine/core";

/**
 * A password input whose show/hide toggle is not named "… password …": Mantine's default
 * ("Toggle password visibility") would make `getByLabel("Password")` match two elements.
 */
export function PasswordField(props: PasswordInputProps) {
  return <PasswordInput visibilityToggleButtonProps={{ "aria-label": "Show the characters" }} {...props} />;
}
