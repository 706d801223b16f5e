// The function app's user-assigned managed identity: every data-plane access (storage host and state,
// Application Insights ingestion, Key Vault references) is granted to it in app/rbac.bicep.
param name string
param location string = resourceGroup().location
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output name string = identity.name
output id string = identity.id
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
