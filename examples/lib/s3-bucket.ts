/**
 * The examples' S3 settings and bucket: from the AWS_* environment that
 * `scripts/services.sh env` prints (or your own endpoint's), the bucket made
 * if missing (on real S3 you would make it once, by hand or in your
 * infrastructure code, not in the program).
 */
import { BucketAlreadyOwnedByYou, CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3Options } from '@larder/store-fs';

export const EXAMPLE_BUCKET = 'larder-examples';

/** S3 settings from the environment, or undefined when no S3 endpoint is set. */
export function s3Settings(): S3Options | undefined {
  const { AWS_ENDPOINT_URL_S3: endpoint, AWS_REGION: region, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = process.env;
  if (!endpoint || !region || !accessKeyId || !secretAccessKey) return undefined;
  return { endpoint, region, credentials: { accessKeyId, secretAccessKey }, forcePathStyle: true };
}

/** Makes the examples' bucket unless it exists. */
export async function ensureBucket(s3: S3Options): Promise<void> {
  const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' });
  try {
    await client.send(new CreateBucketCommand({ Bucket: EXAMPLE_BUCKET }));
  } catch (error) {
    if (!(error instanceof BucketAlreadyOwnedByYou) && (error as { name?: string }).name !== 'BucketAlreadyExists') throw error;
  } finally {
    client.destroy();
  }
}
