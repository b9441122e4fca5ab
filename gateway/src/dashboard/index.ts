export {
  createDashboardRouter,
  DASHBOARD_CSP,
  DASHBOARD_DIR,
  type DashboardRouterOptions,
} from './dashboard-router.js';
