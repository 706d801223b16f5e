// App Service Authentication ("Easy Auth") with Microsoft Entra ID in front of the back-office console
// (issue 9, "Who may enter"). Deployed by app/api.bicep only when an app registration is given
// (azd env CONSOLE_CLIENT_ID); infra/README.md shows how to create it with the two app roles.
//
// Nothing is forced to sign in: the storefront, the status page and the partner API are anonymous or
// bearer-token, so unauthenticated requests pass (AllowAnonymous) and the app itself sends a console visitor
// without a principal to /.auth/login/aad. Signed in, the platform hands the app the principal, app roles
// included, in X-MS-CLIENT-PRINCIPAL. Flex Consumption runs App Service Authentication like the other plans
// (Microsoft's Flex samples configure it, e.g. Azure-Samples/mcp-sdk-functions-hosting-python).
param appName string

@description('Client (application) id of the console\'s app registration.')
param clientId string

@description('The app setting that holds the client id of the managed identity the registration trusts as a federated credential: the sign-in code is redeemed with the identity instead of a client secret.')
param identityClientIdSettingName string

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: appName
}

resource signIn 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13:checkov reads every Microsoft.Web/sites/config as the site's web configuration; this one is authsettingsV2, sign-in only, and the site's own settings are checked on the site in api.bicep.
  // checkov:skip=CKV_AZURE_63:checkov reads every Microsoft.Web/sites/config as the site's web configuration; this one is authsettingsV2, sign-in only, and the site's own settings are checked on the site in api.bicep.
  // checkov:skip=CKV_AZURE_65:checkov reads every Microsoft.Web/sites/config as the site's web configuration; this one is authsettingsV2, sign-in only, and the site's own settings are checked on the site in api.bicep.
  // checkov:skip=CKV_AZURE_66:checkov reads every Microsoft.Web/sites/config as the site's web configuration; this one is authsettingsV2, sign-in only, and the site's own settings are checked on the site in api.bicep.
  // checkov:skip=CKV_AZURE_80:checkov reads every Microsoft.Web/sites/config as the site's web configuration; this one is authsettingsV2, sign-in only, and the site's own settings are checked on the site in api.bicep.
  // checkov:skip=CKV_AZURE_88:checkov reads every Microsoft.Web/sites/config as the site's web configuration; this one is authsettingsV2, sign-in only, and the site's own settings are checked on the site in api.bicep.
  // checkov:skip=CKV_AZURE_222:checkov reads every Microsoft.Web/sites/config as the site's web configuration; this one is authsettingsV2, sign-in only, and the site's own settings are checked on the site in api.bicep.
  parent: app
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          // This tenant's v2.0 issuer, in whichever cloud the deployment runs.
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
          clientId: clientId
          // https://learn.microsoft.com/azure/app-service/configure-authentication-provider-aad#use-a-managed-identity-instead-of-a-secret-preview
          clientSecretSettingName: identityClientIdSettingName
        }
      }
    }
    login: {
      tokenStore: {
        enabled: true
      }
    }
  }
}
