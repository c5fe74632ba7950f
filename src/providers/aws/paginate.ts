/**
 * Every item of a paginated Describe* call: walks the SDK paginator (`paginateDescribeX`) to
 * the last page. EC2 answers large accounts in pages with a NextToken; reading only the first
 * page made sweep remove 100 of 105 orphaned instances and report success.
 * (DescribeAddresses and DescribeKeyPairs have no pages: EC2 answers them whole.)
 */
import {throwIfAborted} from '../../core/errors.js';

export async function allPages<P, T>(pages: AsyncIterable<P>, items: (page: P) => T[] | undefined, signal?: AbortSignal): Promise<T[]> {
  const out: T[] = [];
  for await (const page of pages) {
    throwIfAborted(signal);
    out.push(...(items(page) ?? []));
  }
  return out;
}
