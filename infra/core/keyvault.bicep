// Key Vault for the app's secrets: Azure RBAC authorization (no access policies), soft delete and purge
// protection. The managed identity reads secrets as Key Vault Secrets User (app/rbac.bicep), e.g.
// through an app setting `@Microsoft.KeyVault(VaultName=...;SecretName=sales-client-secret)` once the
// Dynamics 365 Sales adapter reads one.
param name string
param location string = resourceGroup().location
param tags object = {}

@secure()
@description('Client secret for the future Dynamics 365 Sales adapter. Empty: no secret is created (set it later with `az keyvault secret set`).')
param salesClientSecret string = ''

@description('Days a deleted vault or secret stays recoverable. Fixed once the vault exists.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109:The app (no VNet integration) and the operator reach the vault over its public endpoint; access is Entra ID with Azure RBAC only.
  // checkov:skip=CKV_AZURE_189:Same as CKV_AZURE_109: public network access is needed until VNet integration and a private endpoint are added.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// A module rather than a conditional resource: checkov misreads the body of `resource … = if (…)` and
// would not see this secret's properties.
module salesSecret 'keyvault-secret.bicep' = if (!empty(salesClientSecret)) {
  name: 'sales-client-secret'
  params: {
    vaultName: vault.name
    name: 'sales-client-secret'
    value: salesClientSecret
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
