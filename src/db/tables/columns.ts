/**
 * A runtime description of each table's columns, checked against the TypeScript table
 * type at compile time and against the migrated schema at test time
 * (test/db/schema.test.ts). Together they keep the `Database` interface and the
 * migrations from drifting apart.
 */
import type { SelectType } from 'kysely'

/** PostgreSQL type names as information_schema reports them (udt_name). */
export type PgType =
  | 'uuid'
  | 'text'
  | 'int4'
  | 'int8'
  | 'bool'
  | 'jsonb'
  | 'bytea'
  | 'timestamptz'
  | 'date'
  | 'inet'
  | '_text'

/** A nullable column's spec ends in `?`; the compiler checks it agrees with the type. */
type ColumnSpec<V> = null extends SelectType<V> ? `${PgType}?` : PgType

export type ColumnsOf<T> = { readonly [K in keyof T]-?: ColumnSpec<T[K]> }

/** Identity helper that makes the compiler check a column spec against its table type. */
export function columns<T>(spec: ColumnsOf<T>): ColumnsOf<T> {
  return spec
}
