/**
 * The S3 client, loaded on first use: @aws-sdk/client-s3 is an optional peer
 * dependency, so importing store-fs never needs it, and a missing one is
 * LARDER_MISSING_DRIVER naming the package when an S3 store is first used.
 */
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { codedError } from './errors.js';
import type { ResolvedS3 } from './s3-settings.js';

/** What the store uses of @aws-sdk/client-s3. */
export type S3Sdk = typeof import('@aws-sdk/client-s3');

/** Imports the SDK; a missing package is LARDER_MISSING_DRIVER naming it. `importer` exists for the test of that message. */
export async function loadS3Sdk(importer: () => Promise<S3Sdk> = () => import('@aws-sdk/client-s3')): Promise<S3Sdk> {
  try {
    return await importer();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error;
    throw Object.assign(
      codedError(Error, 'LARDER_MISSING_DRIVER', "S3 blob stores need the package @aws-sdk/client-s3, which is not installed: add it to your project (npm install @aws-sdk/client-s3)"),
      { cause: error },
    );
  }
}

/**
 * A client for the resolved settings. Checksums only where S3 requires them:
 * since 3.729 the SDK adds a CRC trailer to every upload by default, which
 * radosgw and other S3-compatible servers reject.
 */
export function makeClient(sdk: S3Sdk, settings: ResolvedS3): S3Client {
  const config: S3ClientConfig = {
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(settings.endpoint !== undefined && { endpoint: settings.endpoint }),
    ...(settings.credentials !== undefined && { credentials: settings.credentials }),
  };
  return new sdk.S3Client(config);
}
