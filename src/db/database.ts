import type { AuditEventsTable } from './tables/audit-events.ts'
import { auditEventsColumns } from './tables/audit-events.ts'
import type { CitizensTable } from './tables/citizens.ts'
import { citizensColumns } from './tables/citizens.ts'
import type { ColumnsOf } from './tables/columns.ts'
import type {
  DocumentAccessesTable,
  DocumentBlobChunksTable,
  DocumentBlobsTable,
  DocumentBlobUploadsTable,
  DocumentGrantsTable,
  DocumentsTable,
  DocumentVersionsTable,
} from './tables/documents.ts'
import {
  documentAccessesColumns,
  documentBlobChunksColumns,
  documentBlobsColumns,
  documentBlobUploadsColumns,
  documentGrantsColumns,
  documentsColumns,
  documentVersionsColumns,
} from './tables/documents.ts'
import type { GatewayJtisTable, GatewaySessionsTable } from './tables/gateway.ts'
import { gatewayJtisColumns, gatewaySessionsColumns } from './tables/gateway.ts'
import type { LoginAttemptsTable } from './tables/login-attempts.ts'
import { loginAttemptsColumns } from './tables/login-attempts.ts'
import type { OfficersTable } from './tables/officers.ts'
import type { DeploymentSecretsTable, OidcClientsTable, OidcPayloadsTable, SigningKeysTable } from './tables/oidc.ts'
import { deploymentSecretsColumns, oidcClientsColumns, oidcPayloadsColumns, signingKeysColumns } from './tables/oidc.ts'
import { officersColumns } from './tables/officers.ts'
import type {
  OfficerEnrolmentCodesTable,
  OfficerSecondFactorsTable,
  OfficerSessionsTable,
} from './tables/officer-factors.ts'
import {
  officerEnrolmentCodesColumns,
  officerSecondFactorsColumns,
  officerSessionsColumns,
} from './tables/officer-factors.ts'
import type { OneTimeCodesTable, RegistrationDecoysTable } from './tables/one-time-codes.ts'
import { oneTimeCodesColumns, registrationDecoysColumns } from './tables/one-time-codes.ts'
import type { KnownDevicesTable, NoticePreferencesTable } from './tables/notices.ts'
import { knownDevicesColumns, noticePreferencesColumns } from './tables/notices.ts'
import type { OutboxTable } from './tables/outbox.ts'
import type { RecoveryCodesTable, SecondFactorsTable } from './tables/second-factors.ts'
import { recoveryCodesColumns, secondFactorsColumns } from './tables/second-factors.ts'
import { outboxColumns } from './tables/outbox.ts'
import type { PasskeysTable, WebauthnChallengesTable } from './tables/passkeys.ts'
import { passkeysColumns, webauthnChallengesColumns } from './tables/passkeys.ts'
import type { RevokedSessionsTable } from './tables/revoked-sessions.ts'
import type { DeviceCodePollsTable, KiosksTable } from './tables/kiosks.ts'
import type { CountersTable } from './tables/counters.ts'
import { countersColumns } from './tables/counters.ts'
import { deviceCodePollsColumns, kiosksColumns } from './tables/kiosks.ts'
import type { IdentityProofsTable } from './tables/identity-proofs.ts'
import { identityProofsColumns } from './tables/identity-proofs.ts'
import { revokedSessionsColumns } from './tables/revoked-sessions.ts'

/** Every table of the application, as the migrations in migrations/ create them. */
export interface Database {
  audit_events: AuditEventsTable
  citizens: CitizensTable
  identity_proofs: IdentityProofsTable
  officers: OfficersTable
  officer_second_factors: OfficerSecondFactorsTable
  officer_enrolment_codes: OfficerEnrolmentCodesTable
  officer_sessions: OfficerSessionsTable
  login_attempts: LoginAttemptsTable
  one_time_codes: OneTimeCodesTable
  registration_decoys: RegistrationDecoysTable
  outbox: OutboxTable
  notice_preferences: NoticePreferencesTable
  known_devices: KnownDevicesTable
  second_factors: SecondFactorsTable
  recovery_codes: RecoveryCodesTable
  passkeys: PasskeysTable
  webauthn_challenges: WebauthnChallengesTable
  oidc_payloads: OidcPayloadsTable
  oidc_clients: OidcClientsTable
  signing_keys: SigningKeysTable
  deployment_secrets: DeploymentSecretsTable
  gateway_sessions: GatewaySessionsTable
  gateway_jtis: GatewayJtisTable
  revoked_sessions: RevokedSessionsTable
  kiosks: KiosksTable
  counters: CountersTable
  device_code_polls: DeviceCodePollsTable
  documents: DocumentsTable
  document_versions: DocumentVersionsTable
  document_grants: DocumentGrantsTable
  document_accesses: DocumentAccessesTable
  document_blob_uploads: DocumentBlobUploadsTable
  document_blob_chunks: DocumentBlobChunksTable
  document_blobs: DocumentBlobsTable
}

/** Runtime column specs of every table; test/db/schema.test.ts compares them with the database. */
export const databaseColumns: { readonly [T in keyof Database]: ColumnsOf<Database[T]> } = {
  audit_events: auditEventsColumns,
  citizens: citizensColumns,
  identity_proofs: identityProofsColumns,
  officers: officersColumns,
  officer_second_factors: officerSecondFactorsColumns,
  officer_enrolment_codes: officerEnrolmentCodesColumns,
  officer_sessions: officerSessionsColumns,
  login_attempts: loginAttemptsColumns,
  one_time_codes: oneTimeCodesColumns,
  registration_decoys: registrationDecoysColumns,
  outbox: outboxColumns,
  notice_preferences: noticePreferencesColumns,
  known_devices: knownDevicesColumns,
  second_factors: secondFactorsColumns,
  recovery_codes: recoveryCodesColumns,
  passkeys: passkeysColumns,
  webauthn_challenges: webauthnChallengesColumns,
  oidc_payloads: oidcPayloadsColumns,
  oidc_clients: oidcClientsColumns,
  signing_keys: signingKeysColumns,
  deployment_secrets: deploymentSecretsColumns,
  gateway_sessions: gatewaySessionsColumns,
  gateway_jtis: gatewayJtisColumns,
  revoked_sessions: revokedSessionsColumns,
  kiosks: kiosksColumns,
  counters: countersColumns,
  device_code_polls: deviceCodePollsColumns,
  documents: documentsColumns,
  document_versions: documentVersionsColumns,
  document_grants: documentGrantsColumns,
  document_accesses: documentAccessesColumns,
  document_blob_uploads: documentBlobUploadsColumns,
  document_blob_chunks: documentBlobChunksColumns,
  document_blobs: documentBlobsColumns,
}
