// A dependency-free JavaScript task module: workers find `addTwo` by its
// export name, so this measures a pool without any TypeScript loader.
export function addTwo(x) {
  return x + 2;
}
