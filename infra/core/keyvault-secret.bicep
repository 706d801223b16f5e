// One Key Vault secret (keyvault.bicep creates it only when a value is given).
param vaultName string
param name string

@secure()
param value string

@description('MIME type or a short note on what the secret is.')
param contentType string = 'text/plain'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41:The password's lifetime is set and rotated by the mail provider that issued it; it is not known at provisioning.
  parent: vault
  name: name
  properties: {
    value: value
    contentType: contentType
  }
}

output name string = secret.name
output uri string = secret.properties.secretUri
