import { useEffect, useState } from 'react';
import type { Api, ApiKeyRole } from './api';

/**
 * The role of the signed-in key (`GET /v1/organization`), to offer only what it may do; null
 * while unknown (not read yet, or the read failed): then every action is offered and the API
 * decides, answering 403 to a role that may not.
 */
export function useRole(api: Api): ApiKeyRole | null {
  const [role, setRole] = useState<ApiKeyRole | null>(null);
  useEffect(() => {
    let current = true;
    api.getOrganization().then(
      (organization) => {
        if (current) setRole(organization.role ?? null);
      },
      () => undefined,
    );
    return () => {
      current = false;
    };
  }, [api]);
  return role;
}
