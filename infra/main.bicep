// B2B partner onboarding on Azure Functions Flex Consumption, laid out for the Azure Developer CLI
// (`azd up`). Everything is keyless: the function app reaches Storage, Application Insights and Key Vault
// with one user-assigned managed identity; the storage account does not accept shared keys at all.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds the unique resource names.')
param environmentName string

@minLength(1)
@description('Region for every resource. It must offer Flex Consumption: `az functionapp list-flexconsumption-locations`.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the person or service principal running azd; gets data access to the queues, tables and Key Vault for operating and debugging. Empty: no access granted.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
])
@description('Kind of principal that principalId names.')
param principalType string = 'User'

@description('Optional resource group name; default rg-<environmentName>.')
param resourceGroupName string = ''

@description('Where leads go and decisions come from: embedded (the stand-in), dataverse (Dynamics 365 Sales) or none (the back office decides).')
@allowed([
  'embedded'
  'dataverse'
  'none'
])
param salesMode string = 'embedded'

@description('Dynamics 365 Sales organization URL, e.g. https://contoso.crm4.dynamics.com (SALES_MODE=dataverse).')
param dataverseUrl string = ''

@description('Issuer (iss) of the bearer tokens partner routes accept, e.g. https://<tenant>.ciamlogin.com/<tenant-id>/v2.0. Empty, with the audience and JWKS URL: partner routes are off.')
param partnerTokenIssuer string = ''

@description('Audience (aud) those tokens must name: the client id or App ID URI of the API registration.')
param partnerTokenAudience string = ''

@description('https URL of the issuer\'s signing keys (JWKS), e.g. https://<tenant>.ciamlogin.com/<tenant-id>/discovery/v2.0/keys.')
param partnerTokenJwksUrl string = ''

@description('The token claim that names the account bound to a partner user at its first sign-in: sub (External ID / B2C) or oid (the object id in the tenant).')
@allowed([
  'sub'
  'oid'
])
param partnerTokenSubjectClaim string = 'sub'

@description('How the issuer vouches for the email that binds an account at its first sign-in, comma separated: email_verified, emails_claim (a local account\'s emails claim).')
param partnerTokenEmailTrust string = 'email_verified,emails_claim'

@description('The partner portal\'s sign-in: the OpenID Connect authority (External ID: https://<tenant>.ciamlogin.com/<tenant-id>/v2.0), the portal\'s client id and the partner API\'s scope. Empty: the portal is off.')
param portalOidcAuthority string = ''
param portalClientId string = ''
param portalApiScope string = ''

@description('How emails go out: outbox (.eml files on the instance\'s temporary disk), smtp (smtpHost …) or ses (sesRegion).')
@allowed([
  'outbox'
  'smtp'
  'ses'
])
param emailTransport string = 'outbox'

@description('SMTP server (EMAIL_TRANSPORT=smtp), e.g. smtp.office365.com; STARTTLS on smtpPort.')
param smtpHost string = ''

@description('SMTP port (a string: it becomes an app setting as it is).')
param smtpPort string = '587'

@description('SMTP login user; empty: no login.')
param smtpUsername string = ''

@secure()
@description('SMTP login password, stored in Key Vault as smtp-password (the app setting SMTP_PASSWORD references it). Empty: no secret is created; set it later with `az keyvault secret set --name smtp-password`.')
param smtpPassword string = ''

@description('Amazon SES region (EMAIL_TRANSPORT=ses), e.g. eu-north-1; AWS credentials come from boto3\'s own chain.')
param sesRegion string = ''

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = '${abbrs.webSitesFunctions}api-${resourceToken}'
var deploymentContainerName = 'app-package'

// The queues and the table the app uses. One list, given both to the storage module (which creates them,
// each queue with its <name>-poison queue) and to the app settings (which name them to the code).
var appQueues = {
  lead: 'b2b-leads'
  outcome: 'b2b-sales-outcomes'
  email: 'b2b-emails'
}
var stateTableName = 'b2bstate'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? '${abbrs.resourcesResourceGroups}${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'core/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'core/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'core/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    queueNames: [
      appQueues.lead
      appQueues.outcome
      appQueues.email
    ]
    tableNames: [
      stateTableName
    ]
  }
}

module keyVault 'core/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    smtpPassword: smtpPassword
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    identityPrincipalId: identity.outputs.principalId
    principalId: principalId
    principalType: principalType
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityName: identity.outputs.name
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    leadQueueName: appQueues.lead
    outcomeQueueName: appQueues.outcome
    emailQueueName: appQueues.email
    stateTableName: stateTableName
    keyVaultName: keyVault.outputs.name
    salesMode: salesMode
    dataverseUrl: dataverseUrl
    partnerTokenIssuer: partnerTokenIssuer
    partnerTokenAudience: partnerTokenAudience
    partnerTokenJwksUrl: partnerTokenJwksUrl
    partnerTokenSubjectClaim: partnerTokenSubjectClaim
    partnerTokenEmailTrust: partnerTokenEmailTrust
    portalOidcAuthority: portalOidcAuthority
    portalClientId: portalClientId
    portalApiScope: portalApiScope
    emailTransport: emailTransport
    smtpHost: smtpHost
    smtpPort: smtpPort
    smtpUsername: smtpUsername
    sesRegion: sesRegion
  }
  // The host and the first deployment need their storage roles before the app starts.
  dependsOn: [
    rbac
  ]
}

// Outputs azd stores in the environment (.azure/<env>/.env).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output AZURE_USER_ASSIGNED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_QUEUE_ENDPOINT string = storage.outputs.queueEndpoint
output AZURE_STORAGE_TABLE_ENDPOINT string = storage.outputs.tableEndpoint
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.applicationInsightsConnectionString
