export const probe = 'src';
