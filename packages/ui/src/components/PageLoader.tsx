import { Center, Loader } from "@mantine/core";

/** Shown while a screen's first data (or the session check) is on its way. */
export function PageLoader() {
  return (
    <Center h="60vh" aria-busy="true">
      <Loader aria-label="Loading" />
    </Center>
  );
}
